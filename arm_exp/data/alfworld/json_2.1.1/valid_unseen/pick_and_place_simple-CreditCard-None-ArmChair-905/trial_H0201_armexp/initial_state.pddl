;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpLivingRoomE, task pick_and_place_simple. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0201_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    BookType - otype
    CreditCardType - otype
    DeskLampType - otype
    KeyChainType - otype
    PillowType - otype
    TissueBoxType - otype
    VaseType - otype
    ArmChairType - rtype
    CoffeeTableType - rtype
    DrawerType - rtype
    GarbageCanType - rtype
    ShelfType - rtype
    SideTableType - rtype
    SofaType - rtype
    TVStandType - rtype
    Pillow_bar_02 - object ; pillow 1
    Book_bar_01 - object ; book 1
    CreditCard_bar_01 - object ; creditcard 1
    KeyChain_bar_01 - object ; keychain 1
    Vase_bar_01 - object ; vase 1
    TissueBox_bar_01 - object ; tissuebox 1
    DeskLamp_bar_01 - object ; desklamp 1
    Pillow_bar_01 - object ; pillow 2
    ArmChair_bar_01 - receptacle ; armchair 1
    CoffeeTable_bar_01 - receptacle ; coffeetable 1
    Drawer_bar_02 - receptacle ; drawer 1
    Drawer_bar_01 - receptacle ; drawer 2
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    Shelf_bar_03 - receptacle ; shelf 1
    Shelf_bar_02 - receptacle ; shelf 2
    Shelf_bar_01 - receptacle ; shelf 3
    SideTable_bar_02 - receptacle ; sidetable 1
    SideTable_bar_01 - receptacle ; sidetable 2
    Sofa_bar_01 - receptacle ; sofa 1
    TVStand_bar_01 - receptacle ; tvstand 1
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of armchair 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of coffeetable 1
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of drawer 1
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of drawer 2
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of garbagecan 1
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of shelf 1
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of shelf 2
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of shelf 3
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of sidetable 1
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of sidetable 2
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of sofa 1
    loc_bar_12_bar_5_bar_270_bar_30 - location ; in front of tvstand 1
)
(:init
    (receptacleType ArmChair_bar_01 ArmChairType)
    (receptacleType CoffeeTable_bar_01 CoffeeTableType)
    (receptacleType Drawer_bar_02 DrawerType)
    (receptacleType Drawer_bar_01 DrawerType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType Shelf_bar_03 ShelfType)
    (receptacleType Shelf_bar_02 ShelfType)
    (receptacleType Shelf_bar_01 ShelfType)
    (receptacleType SideTable_bar_02 SideTableType)
    (receptacleType SideTable_bar_01 SideTableType)
    (receptacleType Sofa_bar_01 SofaType)
    (receptacleType TVStand_bar_01 TVStandType)
    (objectType Pillow_bar_02 PillowType)
    (objectType Book_bar_01 BookType)
    (objectType CreditCard_bar_01 CreditCardType)
    (objectType KeyChain_bar_01 KeyChainType)
    (objectType Vase_bar_01 VaseType)
    (objectType TissueBox_bar_01 TissueBoxType)
    (objectType DeskLamp_bar_01 DeskLampType)
    (objectType Pillow_bar_01 PillowType)
    (canContain ArmChairType BookType)
    (canContain ArmChairType CreditCardType)
    (canContain ArmChairType KeyChainType)
    (canContain ArmChairType PillowType)
    (canContain CoffeeTableType BookType)
    (canContain CoffeeTableType CreditCardType)
    (canContain CoffeeTableType KeyChainType)
    (canContain CoffeeTableType TissueBoxType)
    (canContain CoffeeTableType VaseType)
    (canContain DrawerType BookType)
    (canContain DrawerType CreditCardType)
    (canContain DrawerType KeyChainType)
    (canContain DrawerType TissueBoxType)
    (canContain GarbageCanType TissueBoxType)
    (canContain ShelfType BookType)
    (canContain ShelfType CreditCardType)
    (canContain ShelfType KeyChainType)
    (canContain ShelfType TissueBoxType)
    (canContain ShelfType VaseType)
    (canContain SideTableType BookType)
    (canContain SideTableType CreditCardType)
    (canContain SideTableType KeyChainType)
    (canContain SideTableType TissueBoxType)
    (canContain SideTableType VaseType)
    (canContain SofaType BookType)
    (canContain SofaType CreditCardType)
    (canContain SofaType KeyChainType)
    (canContain SofaType PillowType)
    (canContain TVStandType TissueBoxType)
    (pickupable Pillow_bar_02)
    (pickupable Book_bar_01)
    (pickupable CreditCard_bar_01)
    (pickupable KeyChain_bar_01)
    (pickupable Vase_bar_01)
    (pickupable TissueBox_bar_01)
    (pickupable Pillow_bar_01)
    (openable Drawer_bar_02)
    (openable Drawer_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (toggleable DeskLamp_bar_01)
    (inReceptacle Pillow_bar_02 ArmChair_bar_01)
    (inReceptacle Book_bar_01 CoffeeTable_bar_01)
    (inReceptacle CreditCard_bar_01 CoffeeTable_bar_01)
    (inReceptacle KeyChain_bar_01 Drawer_bar_02)
    (inReceptacle Vase_bar_01 Shelf_bar_03)
    (inReceptacle TissueBox_bar_01 Shelf_bar_01)
    (inReceptacle DeskLamp_bar_01 SideTable_bar_01)
    (inReceptacle Pillow_bar_01 Sofa_bar_01)
    (receptacleAtLocation ArmChair_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation CoffeeTable_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Drawer_bar_02 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Drawer_bar_01 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation Shelf_bar_03 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation Shelf_bar_02 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation Shelf_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation SideTable_bar_02 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation SideTable_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation Sofa_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (receptacleAtLocation TVStand_bar_01 loc_bar_12_bar_5_bar_270_bar_30)
    (objectAtLocation Pillow_bar_02 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation Book_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation CreditCard_bar_01 loc_bar_2_bar_3_bar_90_bar_30)
    (objectAtLocation KeyChain_bar_01 loc_bar_3_bar_6_bar_180_bar_30)
    (objectAtLocation Vase_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation TissueBox_bar_01 loc_bar_8_bar_0_bar_270_bar_30)
    (objectAtLocation DeskLamp_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (objectAtLocation Pillow_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
)
(:goal (exists (?r - receptacle ?o - object) (and (objectType ?o CreditCardType) (receptacleType ?r ArmChairType) (inReceptacle ?o ?r))))
)
